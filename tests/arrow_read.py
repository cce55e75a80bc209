"""Test helper: every page of a Scan or Query as raw bodies, parsed by Arrow, typed at the end.

The reader (RemoteTable) adds budgets, segments, throttling and progress around it; this loop is
what the benchmarks and the fidelity tests drive directly against a low-level client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import pyarrow as pa

from xacct_nb.dynamo import rawpages
from xacct_nb.dynamo.arrow_parse import ArrowPages

__all__ = ["read_arrow"]


def read_arrow(
    client: Any,
    operation: Literal["scan", "query"] = "scan",
    *,
    key_names: Iterable[str] = (),
    explicit_nulls: bool = False,
    **request: Any,
) -> pa.Table:
    """The whole Scan/Query (following ``LastEvaluatedKey``) → one typed ``pyarrow.Table``."""
    pages = ArrowPages()
    request = dict(request)
    while True:
        # add() decodes the whole body: one it cannot read is resent like a CRC32 mismatch
        page = rawpages.decoded_body(client, operation, pages.add, **request)
        if not page.get("LastEvaluatedKey"):
            return pages.table(key_names=key_names, explicit_nulls=explicit_nulls)
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
