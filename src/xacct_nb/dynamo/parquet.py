"""A read's typed Arrow table as a Parquet file, and the read's stats carried in its metadata.

The table is :meth:`RemoteTable.to_arrow`'s (types: :mod:`.arrow_types`); Parquet keeps its
nested columns nested and its field metadata (the number flags). Frames are written by
:mod:`.writers` instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..atomicfile import atomic_path

__all__ = ["READ_STATS", "read_stats", "with_read_stats", "write_parquet"]

READ_STATS = b"xacct.read"  # schema metadata: the read's stats, as df.attrs["xacct"] of a frame


def with_read_stats(table: pa.Table, stats: Mapping[str, Any]) -> pa.Table:
    """The table with a read's stats (partial, reason, pages, resume key...) in its metadata."""
    metadata = dict(table.schema.metadata or {})
    metadata[READ_STATS] = json.dumps(stats).encode()
    return table.replace_schema_metadata(metadata)


def read_stats(table: pa.Table) -> dict[str, Any]:
    """The stats :func:`with_read_stats` attached ({} when there are none)."""
    text = (table.schema.metadata or {}).get(READ_STATS)
    return json.loads(text) if text else {}


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Parquet with the table's Arrow types (nested columns stay nested; field metadata kept).

    The read's stats are left out: they describe the read, not the data.
    """
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k != READ_STATS}
    with atomic_path(path) as temp:
        pq.write_table(table.replace_schema_metadata(metadata or None), temp)
    return Path(path)
