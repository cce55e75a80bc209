"""Scan/Query pages as raw wire-format JSON, without botocore's output parsing.

botocore's parser walks the output shape for every attribute value (~75 µs per ~300-byte item),
which makes it the main client-side cost of a large read. botocore emits
``before-parse.dynamodb.<Op>`` just before parsing, with the HTTP ``response_dict`` and a
``customized_response_dict`` that ``Endpoint._do_get_response`` merges over the parsed result
(``parsed_response.update(customized_response_dict)``). The handler here decodes a 200 body
itself, puts the decoded keys in ``customized_response_dict`` and empties ``response_dict['body']``
so the parser, which still runs, has nothing to walk and only adds ``ResponseMetadata``.

What keeps working unchanged:

* Errors: non-200 responses are left alone, so throttling, AccessDenied and ValidationException
  are parsed by botocore and raised as the usual ``ClientError`` with the usual retries.
* Integrity: every 200 body our calls take is checked here before anything reads it. A CRC32
  mismatch against DynamoDB's ``x-amz-crc32`` header is left to botocore, which resends it (its
  check reads the HTTP response's own content, ``botocore.retries.special``) — but its standard
  mode *returns* the body still mismatched after the last attempt, so that one fails here with
  one :class:`GarbledBody` line. A body cut short where no CRC32 shows it (a middlebox stripped
  the header, or re-framed a cut body) is caught by its JSON: fully decoded for
  :func:`scan_page`; for :func:`page_body`, whose bytes Arrow decodes, a cheap check of its end
  plus the caller's own decode (:func:`decoded_body`). Such a body is resent the same way, up to
  the client's ``total_max_attempts``, then fails with one :class:`GarbledBody` line.
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
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

from botocore.exceptions import BotoCoreError

from .. import retries
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

__all__ = ["GarbledBody", "decoded_body", "enable_raw_pages", "iter_pages", "page_body",
           "query_page", "scan_page"]

_OPERATIONS = ("Scan", "Query")
_HANDLER_ID = "xacct-nb-raw-pages-{}"
# Set only while scan_page/query_page ("items") or page_body ("body") run on this thread.
# botocore sends, retries and parses a call on the calling thread, so the flag scopes the
# handler to exactly our calls.
_active = threading.local()
_CRC_HEADER = "x-amz-crc32"
# Seconds between resends of a damaged body: it is no sign of load (unlike throttling), so the
# wait is short; full jitter, doubling, capped.
_GARBLED_BACKOFF_BASE, _GARBLED_BACKOFF_CAP = 0.05, 1.0


class GarbledBody(BotoCoreError):
    """A Scan/Query response body that cannot be the server's whole answer (cut short or
    damaged on the way) and was still so after every attempt."""

    fmt = ("dynamodb:{operation} got a damaged response body {attempts} times in a row "
           "({problem}) — something between here and DynamoDB (a proxy, a middlebox) cuts or "
           "alters responses; retry later or bypass it")


class _Damaged(Exception):
    """Raised by the hook (inside the client call) for one damaged body; resent by _call."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


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
    body = response_dict["body"]
    _active.crc = crc = _crc32_matches(body, response_dict.get("headers") or {})
    if crc is False:  # botocore resends it; _call fails if the last attempt still mismatched
        response_dict["body"] = b""
        return
    if mode == "body":  # the bytes as they came, for a decoder that takes bytes (Arrow)
        # A whole JSON object ends with "}"; the caller's decoder (decoded_body) checks the rest.
        if not body.rstrip().endswith(b"}"):
            raise _Damaged(f"{len(body)} bytes that do not end a JSON object")
        customized_response_dict["Body"] = body
        response_dict["body"] = b""
        return
    try:
        # json.loads makes no reference cycles, so the collector has nothing to find while it
        # builds a page's ~20 dicts per item — and pausing it makes decoding ~2-3x faster.
        with gc_paused():
            decoded = _loads(body)
    except ValueError:
        # botocore's parser would make an empty page of it ({"message": body}): a read that
        # silently stops early. A 200 from DynamoDB is always one JSON object.
        raise _Damaged(f"{len(body)} bytes that are not one whole JSON object") from None
    if not isinstance(decoded, dict):
        raise _Damaged(f"a JSON {type(decoded).__name__}, not an object")
    customized_response_dict.update(decoded)
    response_dict["body"] = b""


def _crc32_matches(body: bytes, headers: Any) -> bool | None:
    """Whether the body matches its x-amz-crc32 header; None without one."""
    expected = headers.get(_CRC_HEADER)
    if expected is None:
        return None
    return str(zlib.crc32(body) & 0xFFFFFFFF) == str(expected).strip()


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

    Errors and retries are botocore's, as for :func:`scan_page`; the body's CRC32 and ending are
    checked (see the module docstring), nothing else of it is decoded here (``LastEvaluatedKey``
    included: the caller's decoder has it) — :func:`decoded_body` resends one that its decoder
    cannot read.
    """
    return decoded_body(client, operation, _same, **kwargs)


def decoded_body(client: Any, operation: Literal["scan", "query"],
                 decode: Callable[[bytes], Any], **kwargs: Any) -> Any:
    """``decode(body)`` of one Scan/Query response body, the body resent (as a CRC32 mismatch
    is) when ``decode`` raises ValueError on it — a body cut or damaged where no CRC32 showed it.
    """
    enable_raw_pages(client)
    return _call(client, operation, kwargs, "body", lambda page: decode(page["Body"]))


def _same(body: bytes) -> bytes:
    return body


def _call(client: Any, operation: str, kwargs: dict[str, Any], mode: str,
          decode: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    method = getattr(client, operation)
    attempts = _attempts(client)
    for attempt in range(1, attempts + 1):
        _active.on, _active.crc = mode, None
        try:
            page = method(**kwargs)
        except _Damaged as err:
            problem = err.problem
        else:
            if _active.crc is False:  # botocore's own attempts are spent: it returned the last
                tries = page.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
                raise GarbledBody(operation=operation.capitalize(), attempts=tries,
                                  problem=f"its CRC32 never matched the {_CRC_HEADER} header")
            if decode is None:
                return page
            try:
                return decode(page)
            except ValueError as err:
                if _active.crc:  # the server's own bytes: no transit damage to resend
                    raise
                problem = str(err)
        finally:
            _active.on = None
        if attempt < attempts:
            time.sleep(retries.backoff(attempt, _GARBLED_BACKOFF_BASE, _GARBLED_BACKOFF_CAP))
    raise GarbledBody(operation=operation.capitalize(), attempts=attempts, problem=problem)


def _attempts(client: Any) -> int:
    """The client's total attempts per request: a damaged body gets as many as a CRC32
    mismatch would."""
    configured = (getattr(client.meta.config, "retries", None) or {}).get("total_max_attempts")
    return int(configured or retries.DYNAMODB_ATTEMPTS)


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
