"""What DescribeTable says about a table, in the shape a reader needs: keys, indexes, size."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["IndexInfo", "KeySchema", "TableInfo", "megabytes"]



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
    def from_description(cls, table: Mapping[str, Any]) -> TableInfo:
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
                f"{megabytes(self.size_bytes)}, {self.billing_mode}, {stream}, {self.status}")

    def _repr_html_(self) -> str:
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


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"
