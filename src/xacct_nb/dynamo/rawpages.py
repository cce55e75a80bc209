"""Scan/Query pages as raw wire-format JSON, without botocore's output parsing.

botocore's parser walks the output shape for every attribute value (~75 µs per ~300-byte item),
which makes it the main client-side cost of a large read. botocore emits
``before-parse.dynamodb.<Op>`` just before parsing, with the HTTP ``response_dict`` and a
``customized_response_dict`` that ``Endpoint._do_get_response`` merges over the parsed result
(``parsed_response.update(customized_response_dict)``; a private behaviour, listed in
``xacct_nb._botocore_private``). The handler here decodes a 200 body
itself, puts the decoded keys in ``customized_response_dict`` and empties ``response_dict['body']``
so the parser, which still runs, has nothing to walk and only adds ``ResponseMetadata``.

What keeps working unchanged:

* Errors: non-200 responses are left alone, so throttling, AccessDenied and ValidationException
  are parsed by botocore and raised as the usual ``ClientError`` with the usual retries.
* Integrity: the CRC32 check of DynamoDB's ``x-amz-crc32`` header reads the HTTP response's own
  content (``http_response.content`` in ``botocore.retries.special`` for the standard/adaptive
  retry modes, ``botocore.retryhandler`` for legacy), not ``response_dict``, so it still checks
  the real body, and a mismatch is still retried.
* Other callers: the handler is registered on one client's event system only, and it acts only
  inside :func:`scan_page` / :func:`query_page` on the calling thread, so ``client.scan()`` and
  every other client keep botocore's normal output.

Differences from the normal low-level client output: ``B`` and ``BS`` values in ``Items`` stay
base64 text (``xacct_nb.dynamo.convert`` decodes them), and ``LastEvaluatedKey`` is converted back to
the client's *input* form (``B`` as bytes; everything else already is the input wire format), so
it can be passed as ``ExclusiveStartKey`` as is.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

from .gcpause import gc_paused


def _json_loads() -> Callable[[bytes], Any]:
    """A faster decoder if the environment happens to have one (orjson, which e.g. the test
    extra's policy_sentry brings); not a dependency. Typed the same whichever is installed."""
    try:
        from orjson import loads
    except ImportError:
        return json.loads
    return loads


_loads = _json_loads()

__all__ = ["enable_raw_pages", "iter_pages", "page_body", "query_page", "scan_page"]

_OPERATIONS = ("Scan", "Query")
_HANDLER_ID = "xacct-nb-raw-pages-{}"
# Set only while scan_page/query_page ("items") or page_body ("body") run on this thread.
# botocore sends, retries and parses a call on the calling thread, so the flag scopes the
# handler to exactly our calls.
_active = threading.local()


def enable_raw_pages(client: Any) -> None:
    """Register the raw-page handler on this client's own event system (idempotent).

    :func:`scan_page` and :func:`query_page` call it; calling it up front is optional.
    """
    for operation in _OPERATIONS:
        client.meta.events.register(
            f"before-parse.dynamodb.{operation}",
            _decode_body,
            unique_id=_HANDLER_ID.format(operation),
        )


def _decode_body(response_dict: dict, customized_response_dict: dict, **_: Any) -> None:
    mode = getattr(_active, "on", None)
    if not mode or response_dict.get("status_code") != 200:
        return
    if mode == "body":  # the bytes as they came, for a decoder that takes bytes (Arrow)
        customized_response_dict["Body"] = response_dict["body"]
        response_dict["body"] = b""
        return
    try:
        # json.loads makes no reference cycles, so the collector has nothing to find while it
        # builds a page's ~20 dicts per item — and pausing it makes decoding ~2-3x faster.
        with gc_paused():
            decoded = _loads(response_dict["body"])
    except ValueError:
        return  # not JSON: let botocore's parser deal with it exactly as it normally would
    customized_response_dict.update(decoded)
    response_dict["body"] = b""


def scan_page(client: Any, **kwargs: Any) -> dict[str, Any]:
    """One ``client.scan(**kwargs)`` page with raw ``Items`` (see the module docstring).

    Returns ``Items``, ``Count``, ``ScannedCount``, and ``LastEvaluatedKey`` /
    ``ConsumedCapacity`` when DynamoDB sent them, plus botocore's ``ResponseMetadata``.
    """
    return _raw_call(client, "scan", kwargs)


def query_page(client: Any, **kwargs: Any) -> dict[str, Any]:
    """One ``client.query(**kwargs)`` page with raw ``Items``; as :func:`scan_page`."""
    return _raw_call(client, "query", kwargs)


def iter_pages(
    client: Any, operation: Literal["scan", "query"] = "scan", **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Raw pages of a whole Scan or Query, following ``LastEvaluatedKey``."""
    kwargs = dict(kwargs)
    while True:
        page = _raw_call(client, operation, kwargs)
        yield page
        if not page.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def page_body(client: Any, operation: Literal["scan", "query"], **kwargs: Any) -> bytes:
    """One Scan/Query response body as the raw JSON bytes the server sent (HTTP 200 only).

    Errors, retries and the CRC32 check are botocore's, as for :func:`scan_page`; nothing of
    the body is decoded here (``LastEvaluatedKey`` included: the caller's decoder has it).
    """
    enable_raw_pages(client)
    return _call(client, operation, kwargs, "body")["Body"]


def _call(client: Any, operation: str, kwargs: dict[str, Any], mode: str) -> dict[str, Any]:
    method = getattr(client, operation)
    _active.on = mode
    try:
        return method(**kwargs)
    finally:
        _active.on = None


def _raw_call(client: Any, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    enable_raw_pages(client)
    page = _call(client, operation, kwargs, "items")
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
