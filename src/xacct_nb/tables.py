"""Remote DynamoDB tables as pandas DataFrames: ``RemoteTable(session, name)``.

``session`` is an explicit ``boto3.Session`` — normally the assumed role from
:func:`xacct_nb.sessions.assume` — never ambient credentials. Reads go through the low-level
client with :mod:`xacct_nb.rawpages` (Scan/Query bodies decoded with ``json.loads`` instead of
botocore's shape-walking parser) and :class:`xacct_nb.convert.ColumnBuilder` (pages → typed
columns, one frame at the end): that pair is where the speed is.

    t = RemoteTable(session, "orders")
    t.describe()                                     # keys, indexes, size, billing, stream
    t.query("C0001", sort=("begins_with", "O00"))
    t.query("SHIPPED", index="by_status", sort=("between", "2026-01", "2026-02"))
    t.scan(filter={"status": "SHIPPED", "amount": (">", 100)}, projection=["name", "shipping.city"],
           max_items=1000)
    df.attrs["xacct"]       # partial?, reason, pages, items, consumed_rcu, seconds, resume key
    t.get({"customer_id": "C0001", "order_id": "O000001"}); t.get_many(keys)
    for page in t.iter_pages("scan", allow_full_scan=True): ...   # a DataFrame per page
    t.call("PutItem", Item=...)     # any other operation, with the same one-line errors
    to_csv(df, "x.csv"); to_parquet(df, "x.parquet"); to_jsonl(df, "x.jsonl")

Filters and projections
    ``filter`` is a dict of conditions AND-ed together — ``{"status": "SHIPPED"}`` (equality),
    ``{"amount": (">", 100)}``, ``("between", a, b)``, ``("begins_with", "x")``,
    ``("contains", "x")``, ``("exists",)``, ``("not_exists",)``, and ``=, <>, !=, <, <=, >, >=``
    — or a raw expression string whose placeholders you define in ``names`` / ``values``
    (Python values). ``projection`` is a list of attribute paths (``"shipping.city"``,
    ``"lines[0].sku"``; a string is split on commas). Attribute names are always sent as
    ``#a0…`` placeholders and values as ``:v0…``, so reserved words (``name``, ``status``,
    ``date``) just work. Key attributes are always projected, so every row can be identified
    and a partial read resumed. A tuple is an operator form; to compare with a list, pass a list.

Keys
    Key names and types come from :meth:`RemoteTable.describe` (the table's, or the index's).
    Values are converted to the key's declared type (``"42"`` or ``42`` for an ``N`` key; ``B``
    takes bytes or base64 text); one that cannot be → :class:`InputError` naming the key.

Guards and budgets
    A scan without ``max_items`` or ``max_rcu`` reads — and bills — the whole table or index
    (a filter does not help: DynamoDB reads every item before filtering), so it needs
    ``allow_full_scan=True`` unless describe's item count is at most :data:`FULL_SCAN_ITEM_LIMIT`
    (10,000; DescribeTable's count is refreshed by AWS about every six hours).
    ``max_items`` stops at exactly that many rows; ``max_rcu`` stops after the page that reaches
    it (consumed capacity is always requested, and the next page's ``Limit`` is sized from the
    average item size so the overshoot stays small). A stopped read has
    ``df.attrs["xacct"]["partial"] = True``, the ``reason`` and ``last_evaluated_key`` (wire
    format, ``B`` as base64 text; a list, one entry per segment, for parallel scans): pass it
    back as ``start_key=`` to continue where it stopped.

Throttling
    botocore retries throttled calls itself; when it gives up, the same page (same
    ``ExclusiveStartKey``) is retried after a jittered exponential pause, up to
    :data:`THROTTLE_ATTEMPTS` times, then :class:`AwsError` says the table is throttled.
    A read therefore resumes where it was, never from the start.

Progress
    ``progress=True``: a ``tqdm.auto`` bar on multi-page reads; ``False``: silent; a callable
    receives the running stats dict after every page (the CLI prints a line every few pages).
    ``None`` (default) = auto: off when ``XACCT_NB_QUIET`` is set to anything but ``0``/empty
    (the runbook sets it for papermill runs, where tqdm output misbehaves — papermill #617,
    #765), otherwise on in a Jupyter kernel or when stderr is a terminal.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import queue
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import rawpages
from .convert import ColumnBuilder, frame_for_export, gc_paused, items_to_frame, to_wire
from .dynamo.arrow import ArrowPages, arrow_to_pandas, read_stats, with_read_stats, write_parquet
from .errors import (EXPIRED_CODES, THROTTLE_CODES, AwsError, InputError, XacctError, aws_message,
                     error_code, explain, is_access_denied, is_throttle)

__all__ = [
    "FULL_SCAN_ITEM_LIMIT", "IndexInfo", "KeySchema", "RemoteTable", "TableInfo",
    "describe_all", "to_csv", "to_jsonl", "to_parquet", "write_frame",
]

FULL_SCAN_ITEM_LIMIT = 10_000  # describe's ItemCount up to this: a full scan needs no opt-in
MAX_SEGMENTS = 64  # one thread each; beyond this threads only contend for the GIL
THROTTLE_ATTEMPTS = 6  # our retries of one page, each after botocore's own retries gave up
THROTTLE_BASE_DELAY = 1.0  # seconds; doubled per attempt, full jitter
THROTTLE_MAX_DELAY = 20.0
BATCH_GET_SIZE = 100  # BatchGetItem's limit per call
BATCH_ATTEMPTS = 8  # rounds of UnprocessedKeys before giving up
QUIET_ENV = "XACCT_NB_QUIET"
EXPORT_FORMATS = (".csv", ".parquet", ".jsonl")

_READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable",
                              "ConditionCheckItem", "PartiQLSelect"})
_COMPARISONS = {"=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">",
                ">=": ">="}
_FILTER_FUNCTIONS = ("begins_with", "contains")
_FILTER_OPS = (*_COMPARISONS, "between", *_FILTER_FUNCTIONS, "exists", "not_exists")
_SORT_OPS = ("=", "<", "<=", ">", ">=", "between", "begins_with")
_PATH_PART = re.compile(r"([^.\[\]]+)((?:\[[0-9]+\])*)")
_TYPE_NAMES = {"S": "string", "N": "number", "B": "binary"}

Progress = bool | Callable[[dict], None] | None


# ---------------------------------------------------------------------------------------------
# describe


@dataclass(frozen=True)
class KeySchema:
    """A table's or index's key: partition (HASH) and optional sort (RANGE) attribute + type."""

    partition_key: str
    partition_type: str
    sort_key: str | None = None
    sort_type: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.partition_key,) + ((self.sort_key,) if self.sort_key else ())

    def type_of(self, name: str) -> str:
        return self.partition_type if name == self.partition_key else str(self.sort_type)

    def __str__(self) -> str:
        text = f"{self.partition_key} (partition, {self.partition_type})"
        return text + (f" + {self.sort_key} (sort, {self.sort_type})" if self.sort_key else "")


@dataclass(frozen=True)
class IndexInfo:
    name: str
    kind: str  # "GSI" | "LSI"
    key: KeySchema
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    item_count: int | None
    size_bytes: int | None


@dataclass(frozen=True)
class TableInfo:
    """What DescribeTable says about a table, in the shape a reader needs."""

    name: str
    arn: str
    account: str
    region: str
    status: str
    key: KeySchema
    indexes: tuple[IndexInfo, ...]
    item_count: int
    size_bytes: int
    billing_mode: str  # PAY_PER_REQUEST | PROVISIONED
    stream: str | None  # the stream's view type, None when there is no stream

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> "TableInfo":
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        indexes = [_index_info(ix, "GSI", types) for ix in table.get("GlobalSecondaryIndexes", ())]
        indexes += [_index_info(ix, "LSI", types) for ix in table.get("LocalSecondaryIndexes", ())]
        stream = table.get("StreamSpecification") or {}
        arn = table["TableArn"]
        return cls(
            name=table["TableName"], arn=arn, account=arn.split(":")[4], region=arn.split(":")[3],
            status=table.get("TableStatus", ""), key=_key_schema(table["KeySchema"], types),
            indexes=tuple(indexes), item_count=int(table.get("ItemCount", 0)),
            size_bytes=int(table.get("TableSizeBytes", 0)),
            billing_mode=(table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
            stream=stream.get("StreamViewType") if stream.get("StreamEnabled") else None)

    @property
    def partition_key(self) -> str:
        return self.key.partition_key

    @property
    def sort_key(self) -> str | None:
        return self.key.sort_key

    @property
    def index_names(self) -> tuple[str, ...]:
        return tuple(ix.name for ix in self.indexes)

    def index(self, name: str) -> IndexInfo:
        for ix in self.indexes:
            if ix.name == name:
                return ix
        known = ", ".join(f"{ix.name} ({ix.kind}: {ix.key})" for ix in self.indexes)
        raise InputError(f"table {self.name} has no index {name!r} — "
                         + (f"its indexes are: {known}" if known else "it has no indexes"))

    def key_for(self, index: str | None) -> KeySchema:
        return self.index(index).key if index else self.key

    def size_of(self, index: str | None) -> tuple[int, int]:
        """(item count, size in bytes) of the table or one of its indexes."""
        if not index:
            return self.item_count, self.size_bytes
        ix = self.index(index)
        return ix.item_count or 0, ix.size_bytes or 0

    def frame(self) -> pd.DataFrame:
        """One row for the table and one per index: keys, projection, items, size."""
        rows = [{"index": "(table)", "kind": "table", "partition_key": _key_text(self.key, 0),
                 "sort_key": _key_text(self.key, 1), "projection": "ALL",
                 "items": self.item_count, "size_bytes": self.size_bytes}]
        rows += [{"index": ix.name, "kind": ix.kind, "partition_key": _key_text(ix.key, 0),
                  "sort_key": _key_text(ix.key, 1), "projection": ix.projection,
                  "items": ix.item_count, "size_bytes": ix.size_bytes} for ix in self.indexes]
        return pd.DataFrame(rows).set_index("index")

    def row(self) -> dict[str, Any]:
        """The table in one row, as :func:`describe_all` lists tables."""
        return {"partition_key": _key_text(self.key, 0), "sort_key": _key_text(self.key, 1),
                "indexes": ", ".join(f"{ix.name} ({ix.kind})" for ix in self.indexes),
                "items": self.item_count, "size_mb": round(self.size_bytes / 1e6, 1),
                "billing": self.billing_mode, "stream": self.stream or "", "error": ""}

    def summary(self) -> str:
        stream = f"stream {self.stream}" if self.stream else "no stream"
        return (f"{self.name} in {self.account}/{self.region}: {self.item_count:,} items, "
                f"{_mb(self.size_bytes)}, {self.billing_mode}, {stream}, {self.status}")

    def _repr_html_(self) -> str:
        import html

        return f"<p><b>{html.escape(self.summary())}</b></p>" + self.frame().to_html()

    def __str__(self) -> str:
        return self.summary() + "\n" + self.frame().to_string()


def _key_schema(elements: Iterable[Mapping[str, str]], types: Mapping[str, str]) -> KeySchema:
    by_type = {e["KeyType"]: e["AttributeName"] for e in elements}
    partition, sort = by_type["HASH"], by_type.get("RANGE")
    return KeySchema(partition, types.get(partition, "S"), sort, types.get(sort) if sort else None)


def _index_info(ix: Mapping[str, Any], kind: str, types: Mapping[str, str]) -> IndexInfo:
    return IndexInfo(name=ix["IndexName"], kind=kind, key=_key_schema(ix["KeySchema"], types),
                     projection=(ix.get("Projection") or {}).get("ProjectionType", "ALL"),
                     item_count=ix.get("ItemCount"), size_bytes=ix.get("IndexSizeBytes"))


def _key_text(key: KeySchema, position: int) -> str:
    if position == 0:
        return f"{key.partition_key} ({key.partition_type})"
    return f"{key.sort_key} ({key.sort_type})" if key.sort_key else ""


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


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


# ---------------------------------------------------------------------------------------------
# expressions: every name a #a placeholder, every value a :v placeholder


class _Expressions:
    """Collects ExpressionAttributeNames/Values for one request."""

    def __init__(self, names: Mapping[str, str] | None = None,
                 values: Mapping[str, Any] | None = None):
        self.names = dict(names or {})
        self.values = {}
        for placeholder, value in (values or {}).items():
            self.values[placeholder] = _wire_value(value, f"values[{placeholder!r}]")
        self._placeholders: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        placeholder = self._placeholders.get(attribute)
        if placeholder is None:
            placeholder = self._fresh(f"#a{len(self._placeholders)}", self.names)
            self._placeholders[attribute] = placeholder
            self.names[placeholder] = attribute
        return placeholder

    def path(self, path: str) -> str:
        """``shipping.city`` → ``#a0.#a1``; ``lines[0].sku`` → ``#a2[0].#a3``."""
        parts = []
        for part in str(path).split("."):
            match = _PATH_PART.fullmatch(part)
            if not match:
                raise InputError(f"attribute path {path!r} is not valid — write name, "
                                 "name.sub or name[0].sub")
            parts.append(self.name(match.group(1)) + match.group(2))
        return ".".join(parts)

    def value(self, wire: dict) -> str:
        placeholder = self._fresh(f":v{len(self.values)}", self.values)
        self.values[placeholder] = wire
        return placeholder

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out

    @staticmethod
    def _fresh(placeholder: str, taken: Mapping[str, Any]) -> str:
        if placeholder in taken:
            raise InputError(f"placeholder {placeholder} is used by xacct-nb for escaped names "
                             "and values — name your own placeholders differently (e.g. #s, :s)")
        return placeholder


def _wire_value(value: Any, where: str) -> dict:
    try:
        return to_wire(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: {err}") from None


def _projection(expr: _Expressions, projection: Iterable[str] | str,
                key_names: Iterable[str]) -> str:
    paths = projection.split(",") if isinstance(projection, str) else list(projection)
    paths = [p.strip() for p in paths if str(p).strip()]
    if not paths:
        raise InputError("projection is empty — list attribute names, or leave it out for all")
    return ", ".join(expr.path(p) for p in dict.fromkeys([*paths, *key_names]))


def _filter(expr: _Expressions, spec: Mapping[str, Any] | str) -> str:
    if isinstance(spec, str):
        return spec  # a raw expression: its placeholders come from names=/values=
    if not isinstance(spec, Mapping) or not spec:
        raise InputError("filter must be a non-empty dict like {'status': 'SHIPPED', "
                         "'amount': ('>', 100)} or an expression string")
    return " AND ".join(_condition(expr, path, cond) for path, cond in spec.items())


def _condition(expr: _Expressions, path: str, cond: Any) -> str:
    target = expr.path(path)
    if not isinstance(cond, tuple):
        return f"{target} = {expr.value(_wire_value(cond, f'filter {path!r}'))}"
    op = str(cond[0]).lower() if cond else ""
    args = [expr.value(_wire_value(a, f"filter {path!r}")) for a in cond[1:]]
    wanted = 2 if op == "between" else 0 if op in ("exists", "not_exists") else 1
    if op not in _FILTER_OPS or len(args) != wanted:
        raise InputError(f"filter {path!r}: {cond!r} is not a condition — use a value, or "
                         f"(op, value) with op one of {', '.join(_FILTER_OPS)}; "
                         "('between', low, high); ('exists',)")
    if op in _COMPARISONS:
        return f"{target} {_COMPARISONS[op]} {args[0]}"
    if op == "between":
        return f"{target} BETWEEN {args[0]} AND {args[1]}"
    if op in _FILTER_FUNCTIONS:
        return f"{op}({target}, {args[0]})"
    return f"attribute_{op}({target})"


# ---------------------------------------------------------------------------------------------
# key values, converted to the key's declared type


def _key_value(name: str, type_: str, value: Any, where: str) -> dict:
    if type_ == "S" and isinstance(value, (str, int, Decimal, float)) \
            and not isinstance(value, bool):
        return {"S": str(value)}
    if type_ == "N" and not isinstance(value, bool):
        text = value.strip() if isinstance(value, str) else value
        try:
            if isinstance(text, (str, int, Decimal, float)) and Decimal(text).is_finite():
                return {"N": str(text) if not isinstance(text, float) else repr(text)}
        except InvalidOperation:
            pass
    if type_ == "B":
        if isinstance(value, (bytes, bytearray)):
            return {"B": bytes(value)}
        if isinstance(value, str):
            try:
                return {"B": base64.b64decode(value, validate=True)}
            except binascii.Error:
                pass
    kind = _TYPE_NAMES.get(type_, type_)
    hint = {"N": "a number or numeric text", "S": "text",
            "B": "bytes or base64 text"}.get(type_, "a value of that type")
    raise InputError(f"key {name} of {where} is of type {type_} ({kind}): {value!r} cannot be "
                     f"converted — pass {hint}")


def _portable_key(key: Mapping[str, Any] | None) -> dict | None:
    """A resume key fit for JSON (and df.attrs): B as base64 text, as in DynamoDB's own JSON."""
    if key is None:
        return None
    return {name: {"B": base64.b64encode(av["B"]).decode("ascii")}
            if isinstance(av.get("B"), (bytes, bytearray)) else dict(av)
            for name, av in key.items()}


def _request_key(key: Mapping[str, Any]) -> dict:
    """A key as the low-level client's input wants it: raw items and portable keys carry B as
    base64 text, but botocore's serializer base64-encodes whatever it gets, so hand it bytes."""
    out = {}
    for name, av in key.items():
        if not isinstance(av, Mapping) or len(av) != 1:
            raise InputError(f"start key attribute {name!r} is not wire format ({{'S': 'x'}}) — "
                             "pass df.attrs['xacct']['last_evaluated_key'] unchanged")
        if isinstance(av.get("B"), str):
            av = {"B": base64.b64decode(av["B"])}
        out[name] = dict(av)
    return out


# ---------------------------------------------------------------------------------------------
# one read: pages in, budgets applied, stats out


class _Read:
    """A Scan or Query over one or more segments; :meth:`pages` yields wire items per page."""

    def __init__(self, table: "RemoteTable", operation: str, request: dict, *, index: str | None,
                 segments: int, start_key: Any, max_items: int | None, max_rcu: float | None,
                 page_size: int | None, filtered: bool, progress: Progress,
                 total_hint: int | None):
        self.table = table
        self.operation = operation
        self.request = request
        self.index = index
        self.segments = segments
        self.max_items = max_items
        self.max_rcu = max_rcu
        self.page_size = page_size
        self.filtered = filtered
        self.progress = progress
        self.total_hint = total_hint
        info = table.describe()
        # the read's key, then the table's: the frame's first columns, and the attributes of a
        # resume key (a page cut at max_items resumes after its last kept item)
        self.key_names = tuple(dict.fromkeys([*info.key_for(index).names, *info.key.names]))
        self.items_per_rcu = _items_per_rcu(info, index, request.get("ConsistentRead", False))
        # per segment: {} = not started, a key = resume there, None = finished
        self.resume: list[dict | None] = _start_keys(start_key, segments)
        self.pages_read = self.items = self.scanned = 0
        self.consumed = 0.0
        # the fetching threads' own count, ahead of the caller's: it sizes requests and stops them
        self.fetched_items, self.fetched_rcu = 0, 0.0
        self._fetch_lock = threading.Lock()
        self.reason: str | None = None
        self.started = self.finished = 0.0
        self._bar = None
        # set by _collect_arrow: pages then come as raw bodies parsed by Arrow, not json.loads
        self.arrow: ArrowPages | None = None

    # -- stats ---------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        partial = any(key is not None for key in self.resume)
        end = self.finished or time.perf_counter()
        resume = [_portable_key(key) for key in self.resume] if partial else None
        return {
            "operation": self.operation, "table": self.table.name, "index": self.index,
            "partial": partial,
            "reason": (self.reason or "stopped by the caller") if partial else None,
            "pages": self.pages_read, "items": self.items, "scanned": self.scanned,
            "consumed_rcu": self.consumed, "seconds": round(end - self.started, 3),
            "segments": self.segments,
            "last_evaluated_key": resume[0] if resume and self.segments == 1 else resume,
        }

    # -- the loop ------------------------------------------------------------------------------
    def pages(self) -> Iterator[list[dict]]:
        self.started = time.perf_counter()
        source = self._fetched_pages()
        try:
            for segment, page in source:
                items = self._take(segment, page)
                self._report(len(items), more=page.get("LastEvaluatedKey") is not None)
                if items:
                    yield items
                if self.reason:
                    break
        finally:
            source.close()
            self.finished = time.perf_counter()
            if self._bar is not None:
                self._bar.close()

    def _take(self, segment: int, page: Mapping[str, Any]) -> list[dict]:
        """Account for one page; cut it at max_items; remember where its segment resumes."""
        items = page.get("Items") or []
        self.pages_read += 1
        self.scanned += page.get("ScannedCount", len(items))
        self.consumed += _capacity(page)
        resume = page.get("LastEvaluatedKey") or None
        if self.max_items is not None and self.items + len(items) >= self.max_items:
            keep = self.max_items - self.items
            if keep < len(items):
                items = items[:keep]
                resume = {name: items[-1][name] for name in self.key_names}
            self.reason = "max_items"
        elif self.max_rcu is not None and self.consumed >= self.max_rcu:
            self.reason = "max_rcu"
        self.resume[segment] = resume
        self.items += len(items)
        return items

    # -- fetching: worker threads, ahead of the conversion ---------------------------------------
    def _fetched_pages(self) -> Iterator[tuple[int, dict]]:
        """(segment, raw page) pairs. One thread per unfinished segment — also for a single
        segment, so the next page is on its way while this one is converted — all on one client
        whose pool fits them (measured with 4 threads: within 5% of a client per thread, the
        noise level, and each extra client costs ~5 ms to create).
        A small queue between them bounds the pages held when conversion is the slower side."""
        client = self.table._client(self.segments)
        pending = [s for s in range(self.segments) if self.resume[s] is not None]
        pipe: queue.Queue = queue.Queue(maxsize=max(1, len(pending)))
        stop = threading.Event()

        def work(segment: int) -> None:
            try:
                for page in self._segment_pages(client, segment, stop):
                    if not _put(pipe, (segment, page), stop):
                        return
                _put(pipe, (segment, None), stop)
            except BaseException as err:  # handed to the caller's thread, which raises it
                _put(pipe, (segment, err), stop)

        threads = [threading.Thread(target=work, args=(s,), daemon=True,
                                    name=f"xacct-{self.table.name}-segment-{s}") for s in pending]
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                segment, page = pipe.get()
                if page is None:
                    running -= 1
                elif isinstance(page, BaseException):
                    raise page
                else:
                    yield segment, page
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def _segment_pages(self, client, segment: int, stop: threading.Event) -> Iterator[dict]:
        start = self.resume[segment]
        request = dict(self.request)
        if self.segments > 1:
            request.update(Segment=segment, TotalSegments=self.segments)
        while start is not None and not stop.is_set() and not self._budget_fetched():
            if start:
                request["ExclusiveStartKey"] = _request_key(start)
            limit = self._limit()
            if limit:
                request["Limit"] = limit
            else:
                request.pop("Limit", None)
            page = self.table._fetch(client, self.operation, request, self.index, self.arrow)
            with self._fetch_lock:
                self.fetched_items += len(page.get("Items") or ())
                self.fetched_rcu += _capacity(page)
            yield page
            start = page.get("LastEvaluatedKey") or None

    def _budget_fetched(self) -> bool:
        """Pages already fetched fill the budgets: asking for more would only be discarded."""
        return ((self.max_items is not None and self.fetched_items >= self.max_items)
                or (self.max_rcu is not None and self.fetched_rcu >= self.max_rcu))

    def _limit(self) -> int | None:
        """Limit for the next request: the page size, and no more than the budgets need."""
        limits = [self.page_size] if self.page_size else []
        if self.max_items is not None and not self.filtered:
            # without a filter every evaluated item is returned: read exactly what is missing
            limits.append(max(1, self.max_items - self.fetched_items))
        if self.max_rcu is not None and self.items_per_rcu:
            limits.append(max(1, int((self.max_rcu - self.fetched_rcu) * self.items_per_rcu)))
        return min(limits) if limits else None

    # -- progress ------------------------------------------------------------------------------
    def _report(self, count: int, more: bool) -> None:
        if callable(self.progress):
            self.progress(self.stats())
            return
        if not self.progress:
            return
        if self._bar is None and (more or self.segments > 1):  # only multi-page reads get a bar
            from tqdm.auto import tqdm

            where = self.table.name + (f"/{self.index}" if self.index else "")
            self._bar = tqdm(total=self.total_hint, unit=" items", leave=False,
                             desc=f"{self.operation.lower()} {where}", initial=self.items - count)
        if self._bar is not None:
            self._bar.update(count)


def _capacity(page: Mapping[str, Any]) -> float:
    return float((page.get("ConsumedCapacity") or {}).get("CapacityUnits", 0))


def _put(pipe: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Queue an entry unless the reader stopped (a blocking put could wait forever)."""
    while not stop.is_set():
        try:
            pipe.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _start_keys(start_key: Any, segments: int) -> list[dict | None]:
    if start_key is None:
        return [{} for _ in range(segments)]
    if segments == 1 and isinstance(start_key, Mapping):
        return [dict(start_key)]
    if isinstance(start_key, list) and len(start_key) == segments:
        return [None if k is None else dict(k) for k in start_key]
    raise InputError(f"start_key does not fit a read with segments={segments} — pass "
                     "df.attrs['xacct']['last_evaluated_key'] of a read with the same segments")


def _items_per_rcu(info: TableInfo, index: str | None, consistent: bool) -> float | None:
    count, size = info.size_of(index)
    if not count or not size:
        return None
    # one RCU reads 4 KB strongly consistent, 8 KB eventually consistent
    return (4096 if consistent else 8192) / (size / count)


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(THROTTLE_MAX_DELAY, THROTTLE_BASE_DELAY * 2 ** (attempt - 1)))


def _auto_progress() -> bool:
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


# ---------------------------------------------------------------------------------------------
# the table


class RemoteTable:
    """A DynamoDB table read through an explicit ``boto3.Session`` (see the module docstring).

    ``config`` (botocore ``Config``) is merged into the clients' configuration, e.g. to change
    retries; the connection pool is always at least as large as the number of segments.
    """

    def __init__(self, session: boto3.Session, name: str, *, progress: Progress = None,
                 config: Config | None = None):
        if not isinstance(session, boto3.Session):
            raise InputError("RemoteTable needs a boto3.Session (e.g. from xacct_nb.sessions."
                             f"assume), not {type(session).__name__}")
        self.session = session
        self.name = name
        self.progress = progress
        self._config = config or Config()
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
    def scan(self, *, index: str | None = None, filter: Mapping[str, Any] | str | None = None,
             projection: Iterable[str] | str | None = None, max_items: int | None = None,
             max_rcu: float | None = None, segments: int = 1, allow_full_scan: bool = False,
             consistent: bool = False, numbers: str = "float", sets: str = "set",
             flatten_maps: bool = False, names: Mapping[str, str] | None = None,
             values: Mapping[str, Any] | None = None, page_size: int | None = None,
             start_key: Any = None, dtype_backend: str | None = None) -> pd.DataFrame:
        """The table (or ``index``) as a DataFrame; see the module docstring for the options."""
        read = self._scan_read(index=index, filter=filter, projection=projection,
                               max_items=max_items, max_rcu=max_rcu, segments=segments,
                               allow_full_scan=allow_full_scan, consistent=consistent,
                               names=names, values=values, page_size=page_size,
                               start_key=start_key)
        return _collect(read, numbers=numbers, sets=sets, flatten_maps=flatten_maps,
                        dtype_backend=dtype_backend)

    def query(self, partition_value: Any, *, sort: Any = None, index: str | None = None,
              filter: Mapping[str, Any] | str | None = None,
              projection: Iterable[str] | str | None = None, max_items: int | None = None,
              max_rcu: float | None = None, descending: bool = False, consistent: bool = False,
              numbers: str = "float", sets: str = "set", flatten_maps: bool = False,
              names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
              page_size: int | None = None, start_key: Any = None,
              dtype_backend: str | None = None) -> pd.DataFrame:
        """Items of one partition of the table (or ``index``), optionally a sort-key range.

        ``partition_value`` is the value (or ``{name: value}``, checked against the key);
        ``sort`` is ``("=", x)``, ``("<", x)``, ``("<=", x)``, ``(">", x)``, ``(">=", x)``,
        ``("between", a, b)`` or ``("begins_with", prefix)`` (a bare value means ``=``).
        """
        read = self._query_read(partition_value, sort=sort, index=index, filter=filter,
                                projection=projection, max_items=max_items, max_rcu=max_rcu,
                                descending=descending, consistent=consistent, names=names,
                                values=values, page_size=page_size, start_key=start_key)
        return _collect(read, numbers=numbers, sets=sets, flatten_maps=flatten_maps,
                        dtype_backend=dtype_backend)

    def iter_pages(self, mode: str = "scan", partition_value: Any = None, *,
                   numbers: str = "float", sets: str = "set", flatten_maps: bool = False,
                   **read_args: Any) -> Iterator[pd.DataFrame]:
        """A DataFrame per page, for reads that do not fit in memory. ``mode`` is "scan" (then
        ``read_args`` are :meth:`scan`'s) or "query" (``partition_value`` and :meth:`query`'s).
        Each frame's ``attrs["xacct"]`` holds the running stats; dtypes are decided per page.
        Arguments are checked now, pages are read as you iterate."""
        read = self._mode_read("iter_pages", mode, partition_value, read_args)

        def frames() -> Iterator[pd.DataFrame]:
            for items in read.pages():
                builder = ColumnBuilder(key_names=read.key_names, numbers=numbers, sets=sets,
                                        flatten_maps=flatten_maps)
                builder.add_items(items)
                df = builder.to_frame()
                df.attrs["xacct"] = read.stats()
                yield df

        return frames()

    def to_arrow(self, mode: str = "scan", partition_value: Any = None, *,
                 explicit_nulls: bool = False, **read_args: Any) -> pa.Table:
        """The read as a typed ``pyarrow.Table`` (types: :mod:`xacct_nb.dynamo.arrow`).

        ``mode`` "scan" takes :meth:`scan`'s arguments, "query" ``partition_value`` and
        :meth:`query`'s (without ``numbers``/``sets``/``flatten_maps``: the table is typed
        exactly). ``explicit_nulls=True`` adds a ``"<name>/NULL"`` column after each column
        that had an explicit NULL. The read's stats (``df.attrs["xacct"]`` of a frame) are in
        ``dynamo.arrow.read_stats(table)``.
        """
        read = self._mode_read("to_arrow", mode, partition_value, read_args)
        return _collect_arrow(read, explicit_nulls=explicit_nulls)

    def _mode_read(self, caller: str, mode: str, partition_value: Any,
                   read_args: dict[str, Any]) -> _Read:
        if mode == "scan":
            if partition_value is not None:
                raise InputError(f"{caller}(mode='scan') takes no partition_value — "
                                 "use mode='query'")
            return self._scan_read(**read_args)
        if mode == "query":
            return self._query_read(partition_value, **read_args)
        raise InputError(f"{caller} mode must be 'scan' or 'query', not {mode!r}")

    def get(self, key: Mapping[str, Any], *, projection: Iterable[str] | str | None = None,
            consistent: bool = False, numbers: str = "float", sets: str = "set") -> pd.DataFrame:
        """One item by its full key as a one-row frame (no rows, key columns only, if absent)."""
        info = self.describe()
        request: dict[str, Any] = {"Key": self._table_key(key), "ConsistentRead": consistent,
                                   "ReturnConsumedCapacity": "TOTAL"}
        if projection is not None:
            expr = _Expressions()
            request["ProjectionExpression"] = _projection(expr, projection, info.key.names)
            request.update(expr.params())
        item = self.call("GetItem", **request).get("Item")
        return items_to_frame([item] if item else [], key_names=info.key.names, numbers=numbers,
                              sets=sets)

    def get_many(self, keys: Iterable[Mapping[str, Any]], *,
                 projection: Iterable[str] | str | None = None, consistent: bool = False,
                 numbers: str = "float", sets: str = "set") -> pd.DataFrame:
        """Items by key via BatchGetItem (100 per call, UnprocessedKeys retried with backoff);
        rows in the order of ``keys``, duplicates once, absent keys left out."""
        info = self.describe()
        wanted: dict[tuple, dict] = {}
        for key in keys:
            wire = self._table_key(key)
            wanted.setdefault(_key_signature(wire, info.key.names), wire)
        extra: dict[str, Any] = {"ConsistentRead": consistent}
        if projection is not None:
            expr = _Expressions()
            extra["ProjectionExpression"] = _projection(expr, projection, info.key.names)
            extra.update(expr.params())
        found: list[dict] = []
        batch = list(wanted.values())
        for start in range(0, len(batch), BATCH_GET_SIZE):
            found += self._batch_get({"Keys": batch[start:start + BATCH_GET_SIZE], **extra})
        order = {sig: n for n, sig in enumerate(wanted)}
        found.sort(key=lambda item: order[_key_signature(item, info.key.names)])
        return items_to_frame(found, key_names=info.key.names, numbers=numbers, sets=sets)

    def call(self, operation: str, **params: Any) -> dict:
        """Any DynamoDB operation on this table (``TableName`` filled in when it takes one),
        through the same client, with our one-line errors: ``t.call("PutItem", Item=...)``."""
        client = self._client(1)
        if "TableName" in client.meta.service_model.operation_model(operation).input_shape.members:
            params.setdefault("TableName", self.name)
        try:
            return getattr(client, xform_name(operation))(**params)
        except (ClientError, BotoCoreError) as err:
            raise self._fail(err, operation) from None

    # -- building reads ------------------------------------------------------------------------
    def _scan_read(self, *, index=None, filter=None, projection=None, max_items=None,
                   max_rcu=None, segments=1, allow_full_scan=False, consistent=False, names=None,
                   values=None, page_size=None, start_key=None) -> _Read:
        info = self.describe()
        key = info.key_for(index)
        _check_budgets(max_items, max_rcu, page_size)
        _check_segments(segments)
        count, size = info.size_of(index)
        if max_items is None and max_rcu is None and not allow_full_scan \
                and count > FULL_SCAN_ITEM_LIMIT:
            raise InputError(f"full scan of {self._where(index)} (~{count:,} items, ~{_mb(size)}): "
                             "pass allow_full_scan=True or max_items=… (or max_rcu=…); tables of "
                             f"up to {FULL_SCAN_ITEM_LIMIT:,} items need neither")
        expr = _Expressions(names, values)
        request = self._base_request(expr, index, filter, projection, key, consistent)
        total = min(count, max_items) if max_items is not None else (count or None)
        return self._read("Scan", request, expr, index=index, segments=segments,
                          start_key=start_key, max_items=max_items, max_rcu=max_rcu,
                          page_size=page_size, filtered=filter is not None,
                          total_hint=None if filter is not None else total)

    def _query_read(self, partition_value, *, sort=None, index=None, filter=None,
                    projection=None, max_items=None, max_rcu=None, descending=False,
                    consistent=False, names=None, values=None, page_size=None,
                    start_key=None) -> _Read:
        info = self.describe()
        key = info.key_for(index)
        _check_budgets(max_items, max_rcu, page_size)
        expr = _Expressions(names, values)
        request = self._base_request(expr, index, filter, projection, key, consistent)
        request["KeyConditionExpression"] = self._key_condition(expr, key, index, partition_value,
                                                                sort)
        if descending:
            request["ScanIndexForward"] = False
        return self._read("Query", request, expr, index=index, segments=1, start_key=start_key,
                          max_items=max_items, max_rcu=max_rcu, page_size=page_size,
                          filtered=filter is not None, total_hint=max_items)

    def _base_request(self, expr: _Expressions, index: str | None, filter: Any, projection: Any,
                      key: KeySchema, consistent: bool) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self.name, "ReturnConsumedCapacity": "TOTAL"}
        if index:
            request["IndexName"] = index
        if consistent:
            request["ConsistentRead"] = True
        if filter is not None:
            request["FilterExpression"] = _filter(expr, filter)
        if projection is not None:
            keys = dict.fromkeys([*key.names, *self.describe().key.names])
            request["ProjectionExpression"] = _projection(expr, projection, keys)
        return request

    def _read(self, operation: str, request: dict, expr: _Expressions, **options: Any) -> _Read:
        request.update(expr.params())  # after every expression has taken its placeholders
        progress = _auto_progress() if self.progress is None else self.progress
        return _Read(self, operation, request, progress=progress, **options)

    def _key_condition(self, expr: _Expressions, key: KeySchema, index: str | None,
                       partition_value: Any, sort: Any) -> str:
        where = self._where(index)
        partition_value = self._named(partition_value, key.partition_key, key, index, "partition")
        if partition_value is None:
            raise InputError(f"query on {where} needs a value for its partition key "
                             f"{key.partition_key}")
        wire = _key_value(key.partition_key, key.partition_type, partition_value, where)
        condition = f"{expr.name(key.partition_key)} = {expr.value(wire)}"
        if sort is None:
            return condition
        if key.sort_key is None:
            raise InputError(f"{where} has no sort key (its key is {key}) — drop sort=")
        sort = self._named(sort, key.sort_key, key, index, "sort")
        op, *args = sort if isinstance(sort, tuple) and sort else ("=", sort)
        op = str(op).lower()
        wanted = 2 if op == "between" else 1
        if op not in _SORT_OPS or len(args) != wanted:
            raise InputError(f"sort condition {sort!r} on {key.sort_key}: use (op, value) with op "
                             f"one of {', '.join(_SORT_OPS)}, or ('between', low, high)")
        if op == "begins_with" and key.sort_type == "N":
            raise InputError(f"begins_with needs a string or binary sort key; {key.sort_key} of "
                             f"{where} is a number — use between")
        placeholders = [expr.value(_key_value(key.sort_key, str(key.sort_type), a, where))
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
        return {n: _key_value(n, info.key.type_of(n), key[n], f"table {self.name}")
                for n in info.key.names}

    # -- calls ---------------------------------------------------------------------------------
    def _client(self, segments: int):
        """A low-level client (raw Scan/Query pages) whose pool fits `segments` threads."""
        pool = max(self._config.max_pool_connections or 10, segments)
        with self._lock:  # boto3 sessions are not thread-safe for client creation
            client = self._clients.get(pool)
            if client is None:
                config = self._config.merge(Config(max_pool_connections=pool))
                client = self.session.client("dynamodb", config=config)
                rawpages.enable_raw_pages(client)  # affects only rawpages' own page calls
                self._clients[pool] = client
            return client

    def _fetch(self, client, operation: str, request: dict, index: str | None,
               arrow: ArrowPages | None = None) -> dict:
        """One page; when throttled beyond botocore's retries, wait and ask for the SAME page.
        With ``arrow``, the raw body parsed by it (items as Arrow arrays)."""
        if arrow is not None:
            def page(client, **request: Any) -> dict:
                return arrow.parse(rawpages.page_body(client, operation.lower(), **request))
        else:
            page = rawpages.scan_page if operation == "Scan" else rawpages.query_page
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            try:
                return page(client, **request)
            except (ClientError, BotoCoreError) as err:
                if not is_throttle(err):
                    raise self._fail(err, operation, index) from None
                if attempt == THROTTLE_ATTEMPTS:
                    raise AwsError(
                        f"{self._where(index)} is throttled: dynamodb:{operation} still got "
                        f"{error_code(err)} after {attempt} attempts (each with botocore's own "
                        "retries) — lower segments=, set max_rcu=, or retry later",
                        error_code(err)) from None
                time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    def _batch_get(self, keys_and_options: dict) -> list[dict]:
        request = {self.name: keys_and_options}
        found: list[dict] = []
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                reply = self.call("BatchGetItem", RequestItems=request)
            except AwsError as err:
                if err.code not in THROTTLE_CODES or attempt == BATCH_ATTEMPTS:
                    raise
                reply = {"UnprocessedKeys": request}
            found += reply.get("Responses", {}).get(self.name, [])
            request = reply.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(_backoff(attempt))
        raise AwsError(f"table {self.name} is throttled: BatchGetItem left keys unprocessed after "
                       f"{BATCH_ATTEMPTS} rounds — fetch fewer keys at a time or retry later",
                       "UnprocessedKeys")

    # -- errors --------------------------------------------------------------------------------
    def _where(self, index: str | None = None) -> str:
        return f"index {index} of table {self.name}" if index else f"table {self.name}"

    def _fail(self, err: BaseException, operation: str, index: str | None = None) -> XacctError:
        action = f"dynamodb:{operation} on {self._where(index)}"
        code = error_code(err)
        if _embedded_code(err) in EXPIRED_CODES:  # moto: invalid keys arrive as an XML 403
            return explain(ClientError({"Error": {"Code": _embedded_code(err)}}, operation), action)
        if code == "ResourceNotFoundException":
            return InputError(f"table {self.name} not found in account {self._account()} "
                              f"(region {self.region}) — check the name / the granted tables")
        if is_access_denied(err):
            return explain(err, action, self._denied_fix(operation, index))
        if code == "ValidationException" and "key schema" in aws_message(err).lower():
            key = self.describe().key_for(index)
            return InputError(f"{action}: the key condition does not match the key: {key}")
        return explain(err, action)

    def _denied_fix(self, operation: str, index: str | None) -> str:
        resource = f"{self.name}/index/*" if index else self.name
        if operation in _READ_OPERATIONS:
            return (f"the role's policy for {self.name} does not allow dynamodb:{operation} on "
                    f"{resource} — is {self.name} in the spec's table list and the role "
                    "provisioned? see `xacct-nb verify`")
        return (f"the role's policy for {self.name} does not allow dynamodb:{operation} — access "
                "level is probably Read (writes need ReadWriteUpdate or Full); "
                "see `xacct-nb verify`")

    def _account(self) -> str:
        """The session's account, for messages only (sts:GetCallerIdentity needs no permission)."""
        try:
            return self.session.client("sts").get_caller_identity()["Account"]
        except (ClientError, BotoCoreError):
            return "(unknown)"


def _embedded_code(err: BaseException) -> str:
    """The error code inside an XML body that botocore's JSON parser could not read."""
    if not isinstance(err, ClientError):
        return ""
    match = re.search(r"<Code>([^<]+)</Code>", err.response.get("Error", {}).get("Message") or "")
    return match.group(1) if match else ""


def _check_budgets(max_items: Any, max_rcu: Any, page_size: Any) -> None:
    for name, value in (("max_items", max_items), ("page_size", page_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise InputError(f"{name} must be a whole number ≥ 1, not {value!r}")
    if max_rcu is not None and (isinstance(max_rcu, bool) or not isinstance(max_rcu, (int, float))
                                or max_rcu <= 0):
        raise InputError(f"max_rcu must be a number > 0, not {max_rcu!r}")


def _check_segments(segments: Any) -> None:
    if isinstance(segments, bool) or not isinstance(segments, int) \
            or not 1 <= segments <= MAX_SEGMENTS:
        raise InputError(f"segments must be a whole number from 1 to {MAX_SEGMENTS}, "
                         f"not {segments!r}")


def _key_signature(item: Mapping[str, Any], names: Iterable[str]) -> tuple:
    """Hashable identity of a key: numbers compared as numbers (DynamoDB normalises '5.0' to '5')."""
    parts = []
    for name in names:
        ((tag, value),) = item[name].items()
        if tag == "N":
            value = Decimal(value)
        elif tag == "B" and isinstance(value, str):
            value = base64.b64decode(value)
        parts.append((name, tag, bytes(value) if isinstance(value, bytearray) else value))
    return tuple(parts)


def _collect(read: _Read, *, numbers: str, sets: str, flatten_maps: bool,
             dtype_backend: str | None = None) -> pd.DataFrame:
    """All pages into one frame, column chunk by column chunk (no per-page frames to concat).
    With a ``dtype_backend``, through the Arrow path (pandas' own meaning of the backends)."""
    if dtype_backend is not None:
        if flatten_maps:
            raise InputError("flatten_maps works with the default dtypes only — drop "
                             "dtype_backend, or flatten the struct columns yourself")
        table = _collect_arrow(read)
        df = arrow_to_pandas(table, dtype_backend=dtype_backend, numbers=numbers, sets=sets)
        df.attrs["xacct"] = read_stats(table)
        return df
    builder = ColumnBuilder(key_names=read.key_names, numbers=numbers, sets=sets,
                            flatten_maps=flatten_maps)
    # No collections for the whole read: decoding and converting build millions of containers
    # and no cycles, and with the fetching thread decoding while this one converts, per-step
    # pauses would switch the collector back on in the middle of the other's work.
    with gc_paused():
        for items in read.pages():
            builder.add_items(items)
    df = builder.to_frame()
    df.attrs["xacct"] = read.stats()
    return df


def _collect_arrow(read: _Read, *, explicit_nulls: bool = False) -> pa.Table:
    """All pages as raw bodies parsed by Arrow, typed once at the end; the stats attached."""
    pages = read.arrow = ArrowPages()
    for items in read.pages():
        pages.add_items(items)
    table = pages.table(key_names=read.key_names, explicit_nulls=explicit_nulls)
    return with_read_stats(table, read.stats())


# ---------------------------------------------------------------------------------------------
# export


def to_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """CSV: sets/maps/lists as JSON text, bytes as base64, big ints and decimals exact."""
    frame_for_export(df).to_csv(path, index=False)
    return Path(path)


def to_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Parquet: typed columns stay typed; object columns become text as in :func:`to_csv`."""
    out = frame_for_export(df)
    out.attrs = {}  # read stats are not data; pyarrow would store them as file metadata
    out.to_parquet(path, index=False)
    return Path(path)


def to_jsonl(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """JSON Lines, one object per row, missing attributes left out. Maps and lists stay JSON
    objects and arrays, sets become sorted arrays, bytes base64, numbers stay numbers where
    that is exact (ints of any size; decimals that survive float) and become strings otherwise."""
    with open(path, "w", encoding="utf-8") as fh:
        for row in df.to_dict("records"):
            obj = {k: v for k, v in row.items() if not _missing(v)}
            fh.write(json.dumps(obj, ensure_ascii=False, default=_json_default) + "\n")
    return Path(path)


def write_frame(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write by extension: .csv, .parquet or .jsonl."""
    writer = {".csv": to_csv, ".parquet": to_parquet, ".jsonl": to_jsonl}.get(export_format(path))
    return writer(df, path)


def export_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise InputError(f"cannot write {os.fspath(path)!r}: use a file name ending in "
                         f"{', '.join(EXPORT_FORMATS)}")
    return suffix


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ---------------------------------------------------------------------------------------------
# command line: `xacct-nb scan` / `xacct-nb query` (cli.py loads the spec and assumes the role)

CLI_PROGRESS_EVERY = 10  # pages between two progress lines when stderr is not a terminal
_CLI_FILTER = re.compile(r"([^=<>!^]+?)\s*(<>|!=|<=|>=|\^=|=|<|>)\s*(.*)", re.S)
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def cli_request(mode: str, *, table: str, out: str, granted: Iterable[str],
                index: str | None = None, key: str | None = None, sort: str | None = None,
                filters: Iterable[str] = (), limit: int | None = None, segments: int = 1,
                full: bool = False, max_rcu: float | None = None) -> dict[str, Any]:
    """Check the command line before any AWS call; → the arguments of :func:`cli_read`."""
    granted = list(granted)
    if table not in granted:
        raise InputError(f"table {table} is not in the spec's table list — granted tables: "
                         f"{', '.join(granted) or 'none'}")
    export_format(out)
    _check_budgets(limit, max_rcu, None)
    args: dict[str, Any] = {"index": index, "max_items": limit, "max_rcu": max_rcu}
    if filters:
        args["filter"] = dict(_cli_filter(text) for text in filters)
    if mode == "scan":
        _check_segments(segments)
        args.update(segments=segments, allow_full_scan=full)
    else:
        name, sep, value = (key or "").partition("=")
        if not name or not sep:
            raise InputError("query needs --key NAME=VALUE for the partition key")
        args["partition_value"] = {name.strip(): value}
        if sort:
            args["sort"] = _cli_sort(sort)
    return {"mode": mode, "table": table, "out": out, "args": args}


def cli_read(session: boto3.Session, request: Mapping[str, Any]) -> str:
    """Read as `request` says, write the file, and return the one-line summary."""
    mode, table, out = request["mode"], request["table"], request["out"]
    remote = RemoteTable(session, table, progress=_cli_progress(f"{mode} {table}"))
    args = dict(request["args"])
    partition_value = args.pop("partition_value", None)
    if export_format(out) == ".parquet":  # typed columns: nested stays nested (see to_arrow)
        arrow = remote.to_arrow(mode, partition_value, **args)
        write_parquet(arrow, out)
        meta, rows = read_stats(arrow), arrow.num_rows
    else:
        df = remote.scan(**args) if mode == "scan" else remote.query(partition_value, **args)
        write_frame(df, out)
        meta, rows = df.attrs["xacct"], len(df)
    where = table + (f" index {meta['index']}" if meta["index"] else "")
    state = f"partial ({meta['reason']})" if meta["partial"] else "complete"
    return (f"{mode} {where}: {rows:,} rows, {meta['pages']} pages, "
            f"{meta['consumed_rcu']:g} RCU, {meta['seconds']:.1f} s, {state} → {out}")


def _cli_progress(label: str) -> Progress:
    if os.environ.get(QUIET_ENV, "") not in ("", "0"):
        return False
    if sys.stderr.isatty():
        return True

    def line(stats: dict) -> None:
        if stats["pages"] % CLI_PROGRESS_EVERY == 0:
            print(f"{label}: {stats['pages']} pages, {stats['items']:,} items, "
                  f"{stats['consumed_rcu']:g} RCU, {stats['seconds']:.0f} s", file=sys.stderr,
                  flush=True)

    return line


def _cli_filter(text: str) -> tuple[str, Any]:
    match = _CLI_FILTER.fullmatch(text.strip())
    if not match:
        raise InputError(f"--filter {text!r}: write NAME=VALUE (or NAME!=, <, <=, >, >=, ^= for "
                         "begins_with); numbers and true/false are typed, quote text like '\"42\"'")
    name, op, raw = match.groups()
    value = _cli_value(raw)
    if op == "=":
        return name.strip(), value
    return name.strip(), ("begins_with" if op == "^=" else op, value)


def _cli_value(text: str) -> Any:
    """Numbers (JSON syntax, so '007' stays text) and true/false are typed; quotes force text."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _JSON_NUMBER.fullmatch(text):
        return int(text) if text.lstrip("-").isdigit() else Decimal(text)
    return text


def _cli_sort(text: str) -> tuple:
    op, sep, rest = text.partition(":")
    if op not in _SORT_OPS or not sep:
        ops = ", ".join(o for o in _SORT_OPS if o != "between")
        raise InputError(f"--sort {text!r}: write OP:VALUE with OP one of {ops}, "
                         "or between:LOW:HIGH")
    if op != "between":
        return (op, rest)
    low, sep, high = rest.partition("..") if ".." in rest else rest.partition(":")
    if not sep or (sep == ":" and ":" in high):
        raise InputError(f"--sort {text!r}: write between:LOW:HIGH, or between:LOW..HIGH when "
                         "the values contain ':'")
    return ("between", low, high)
