"""Raw Scan/Query pages as decoded JSON dicts — the benchmarks' floor (and tests' reference).

"Raw pages + ``json.loads``, no DataFrame" is the least a client can do with a page: the cost
every way of the benchmarks is compared with. The package itself never reads pages this way (it
parses the bytes with ``pyarrow.json``), so this lives here, built on the package's public
:func:`xacct_nb.dynamo.rawpages.decoded_body`: the body the server sent, its CRC32 and ending
checked, a damaged one resent, then decoded by ``json.loads`` (orjson when installed) with the
garbage collector paused.

Differences from the low-level client's output: ``B``/``BS`` values stay base64 text, as on the
wire; ``LastEvaluatedKey`` is in the client's *input* form (``B`` as bytes), so it can be passed
back as ``ExclusiveStartKey``; there is no ``ResponseMetadata``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any, Literal

from xacct_nb.dynamo.gcpause import gc_paused
from xacct_nb.dynamo.rawpages import decoded_body

__all__ = ["iter_pages", "query_page", "scan_page"]


def _json_loads() -> Callable[[bytes], Any]:
    """orjson when the environment has it (as the package's integrity check uses), else json."""
    try:
        from orjson import loads
    except ImportError:
        return json.loads
    return loads


_loads = _json_loads()


def scan_page(client: Any, **kwargs: Any) -> dict[str, Any]:
    """One ``client.scan(**kwargs)`` page as the server sent it: ``Items``, ``Count``,
    ``ScannedCount``, and ``LastEvaluatedKey`` / ``ConsumedCapacity`` when there are some."""
    return _page(client, "scan", kwargs)


def query_page(client: Any, **kwargs: Any) -> dict[str, Any]:
    """One ``client.query(**kwargs)`` page; as :func:`scan_page`."""
    return _page(client, "query", kwargs)


def iter_pages(
    client: Any, operation: Literal["scan", "query"] = "scan", **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Raw pages of a whole Scan or Query, following ``LastEvaluatedKey``."""
    kwargs = dict(kwargs)
    while True:
        page = _page(client, operation, kwargs)
        yield page
        if not page.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _decode(body: bytes) -> dict[str, Any]:
    # json.loads makes no reference cycles: with the collector paused it is ~2-3x faster.
    with gc_paused():
        page = _loads(body)
    if not isinstance(page, dict):
        raise ValueError("not one JSON object")  # decoded_body resends it
    return page


def _page(client: Any, operation: Literal["scan", "query"], kwargs: dict[str, Any]) -> dict[str, Any]:
    page = decoded_body(client, operation, _decode, **kwargs)
    if page.get("LastEvaluatedKey"):
        page["LastEvaluatedKey"] = {
            name: _blob_to_bytes(value) for name, value in page["LastEvaluatedKey"].items()
        }
    return page


def _blob_to_bytes(value: dict[str, Any]) -> dict[str, Any]:
    # botocore base64-encodes a B input value, even one given as text: base64 text from the
    # raw body would be encoded twice. Key attributes are S, N or B only.
    if "B" in value and isinstance(value["B"], str):
        return {"B": base64.b64decode(value["B"])}
    return value
